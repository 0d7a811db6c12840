"""Device provisioning: IoT things, certificates and the device registry, kept in agreement."""

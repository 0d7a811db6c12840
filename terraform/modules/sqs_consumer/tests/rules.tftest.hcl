# `terraform test` with a mocked AWS provider (offline, nothing created): the module's own rules really
# refuse what AWS would refuse or what would break the consumer. Run by tests/terraform/test_policies.py.

mock_provider "aws" {}

variables {
  queue_name                 = "jobs"
  dlq_name                   = "jobs-dlq"
  kms_key_arn                = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  function_name              = "worker"
  function_arn               = "arn:aws:lambda:us-east-1:123456789012:function:worker"
  function_role_name         = "worker-role"
  function_timeout_seconds   = 30
  visibility_timeout_seconds = 180
}

run "six_times_the_function_timeout_is_accepted" {
  command = plan

  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 180
    error_message = "the queue must take the visibility timeout it is given"
  }

  assert {
    condition     = aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "the DLQ must keep messages 14 days (1209600 s)"
  }

  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dlq) == 1
    error_message = "the redrive-allow policy is on by default"
  }

  assert {
    condition     = one(aws_lambda_event_source_mapping.this.scaling_config).maximum_concurrency == 5
    error_message = "the mapping must carry scaling_config.maximum_concurrency"
  }
}

run "less_than_six_times_the_function_timeout_is_refused" {
  command = plan

  variables {
    visibility_timeout_seconds = 179
  }

  expect_failures = [aws_sqs_queue.this]
}

run "the_sandbox_goes_without_the_redrive_allow_policy" {
  command = plan

  variables {
    redrive_allow_policy_enabled = false
  }

  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dlq) == 0
    error_message = "redrive_allow_policy_enabled = false must create no redrive-allow policy"
  }
}

run "maximum_concurrency_below_two_is_refused" {
  command = plan

  variables {
    maximum_concurrency = 1
  }

  expect_failures = [var.maximum_concurrency]
}

run "maximum_concurrency_above_a_thousand_is_refused" {
  command = plan

  variables {
    maximum_concurrency = 1001
  }

  expect_failures = [var.maximum_concurrency]
}

run "a_batch_above_ten_without_a_batching_window_is_refused" {
  command = plan

  variables {
    batch_size                         = 11
    maximum_batching_window_in_seconds = 0
  }

  expect_failures = [aws_lambda_event_source_mapping.this]
}

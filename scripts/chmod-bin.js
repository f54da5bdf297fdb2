// Makes the CLI entry (package.json "bin": dist/tooling/cli/main.js) executable:
// tsc writes its output 0644, so `./dist/tooling/cli/main.js` would not run after a
// clean build. (npm sets the bit itself when it installs the package.)
const fs = require('node:fs');
const path = require('node:path');

const bin = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');
fs.chmodSync(bin, fs.statSync(bin).mode | 0o111);

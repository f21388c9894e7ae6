// tsserver loads "stepwise/language-service" with require() and Node10 resolution, which
// ignores package.json "exports": this folder is where it looks. The plugin itself is a
// CommonJS bundle of transformer/language-service.ts, built by `npm run build`.
"use strict";
const plugin = require("../dist/language-service.cjs");
module.exports = plugin.default || plugin;

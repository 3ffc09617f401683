#!/usr/bin/env node
// The published CLI: runs the compiled entry in dist/ (npm run build makes it).
import { main, processIO } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2), processIO());

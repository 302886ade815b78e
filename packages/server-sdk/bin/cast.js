#!/usr/bin/env node
// The `cast` command. A committed shim (not the build output itself), so package
// managers can link the command at install time, before the first build.
import '../dist/cli.js';

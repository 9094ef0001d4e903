/**
 * The admin CLI as a program: `npm run admin -- …`, or `node dist/cli/admin.js …` in the image.
 * `npm run admin -- --help` lists the commands.
 */
import { runAdmin } from './admin-cli.js';

runAdmin(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code;
});

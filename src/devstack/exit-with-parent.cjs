// Preloaded (`node --require`) into a Directus that a test or a bench starts: its stdin is a pipe from the process
// that started it, and the pipe's end means that process is gone, whether it stopped, crashed or was killed. Directus
// is then shut down as SIGTERM shuts it down, instead of staying up on its port and database with nobody to stop it.
'use strict';
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.on('error', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();

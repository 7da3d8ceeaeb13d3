// Many users, one websocket each, for the presence tests:
//
//   node many_users.js URL PREFIX FIRST COUNT
//
// Logs in users PREFIX<FIRST> .. PREFIX<FIRST+COUNT-1> by their uid (the
// daemon runs with --auth none), a few at a time, and prints "ready" once
// every one of them has its login answered (the online count the daemon
// sends after a login). Stays connected until stdin closes.
'use strict';

const io = require('socket.io-client');

const [url, prefix, first, count] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const AT_ONCE = 200;
let next = 0;
let answered = 0;

function open() {
  if (next >= count) return;
  const uid = prefix + (first + next++);
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  socket.on('connect', () => socket.emit('login', uid));
  socket.once('update_online_count', () => {
    answered += 1;
    if (answered === count) process.stdout.write('ready\n');
    open();
  });
  socket.on('connect_error', (err) => {
    process.stderr.write(`${uid}: ${err.message}\n`);
    process.exit(1);
  });
}

for (let i = 0; i < AT_ONCE; i++) open();
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

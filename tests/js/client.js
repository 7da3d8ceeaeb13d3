// A scriptable socket.io client for the integration tests.
//
//   node client.js --url http://127.0.0.1:PORT --client 4|2 [--uid UID] [--tabs N]
//                  [--transports websocket,polling]
//
// Opens N sockets ("tabs"); each logs in with --uid on every (re)connect, as
// web-msg-sender pages do. Writes one JSON line per happening to stdout:
//   {"tab":0,"type":"connected"} / {"tab":0,"type":"disconnected"}
//   {"tab":0,"type":"event","event":"new_msg","data":...}
// Reads JSON commands from stdin, one per line:
//   {"emit":"login","args":[...]}   emit on every tab (args may be empty)
//   {"close":true}                   close every tab
//   {"drop":true}                    drop the transport (the client reconnects)
'use strict';

const readline = require('readline');

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const url = option('url');
const generation = option('client', '4');
const uid = option('uid');
const tabs = Number(option('tabs', '1'));
const transports = option('transports', 'websocket,polling').split(',');
const io = require(generation === '2' ? 'socket.io-client-v2' : 'socket.io-client');

const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');

const sockets = [];
for (let tab = 0; tab < tabs; tab++) {
  const socket = io(url, {
    transports,
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  socket.on('connect', () => {
    out({ tab, type: 'connected' });
    if (uid !== undefined) socket.emit('login', uid);
  });
  socket.on('disconnect', (reason) => out({ tab, type: 'disconnected', reason }));
  for (const event of ['new_msg', 'update_online_count', 'order_shipped']) {
    socket.on(event, (data) => out({ tab, type: 'event', event, data }));
  }
  sockets.push(socket);
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  for (const socket of sockets) {
    if (command.emit) socket.emit(command.emit, ...(command.args || []));
    if (command.close) socket.close();
    if (command.drop) socket.io.engine.close();
  }
  if (command.close) setTimeout(() => process.exit(0), 50);
});

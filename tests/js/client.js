// A scriptable socket.io client for the integration tests.
//
//   node client.js --url http://127.0.0.1:PORT --client 4|2 [--login TOKEN_OR_UID]
//                  [--via event|handshake] [--tabs N] [--transports websocket,polling]
//
// Opens N sockets ("tabs"). With --login, each logs in with that value: via
// event, by emitting `login` on every (re)connect as web-msg-sender pages do;
// via handshake, as a token in `auth: {token}` (4.x) or `query: {token}` (2.x).
// Writes one JSON line per happening to stdout:
//   {"tab":0,"type":"connected"} / {"tab":0,"type":"disconnected","reason":...}
//   {"tab":0,"type":"connect_error","message":...}
//   {"tab":0,"type":"event","event":"new_msg","data":...}
//   {"tab":0,"type":"ack","event":"msgpush:members","data":...}
// Reads JSON commands from stdin, one per line, for every tab or only for
// the one named by "tab":
//   {"emit":"login","args":[...]}   emit (args may be empty)
//   {"ask":"msgpush:members","args":[...]}
//                                    emit with an acknowledgement; its answer is an "ack" line
//   {"close":true}                   close (the process exits once every tab is closed)
//   {"drop":true}                    drop the transport (the client reconnects)
'use strict';

const readline = require('readline');

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const url = option('url');
const generation = option('client', '4');
const login = option('login');
const via = option('via', 'event');
const tabs = Number(option('tabs', '1'));
const transports = option('transports', 'websocket,polling').split(',');
const io = require(generation === '2' ? 'socket.io-client-v2' : 'socket.io-client');

const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');

const sockets = [];
for (let tab = 0; tab < tabs; tab++) {
  const options = { transports, forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500 };
  if (login !== undefined && via === 'handshake') {
    if (generation === '2') options.query = { token: login };
    else options.auth = { token: login };
  }
  const socket = io(url, options);
  socket.on('connect', () => {
    out({ tab, type: 'connected' });
    if (login !== undefined && via === 'event') socket.emit('login', login);
  });
  socket.on('disconnect', (reason) => out({ tab, type: 'disconnected', reason }));
  // A refused handshake: connect_error (4.x), or an error packet (2.x).
  socket.on('connect_error', (err) => out({ tab, type: 'connect_error', message: err.message }));
  if (generation === '2') {
    socket.on('error', (err) => out({ tab, type: 'connect_error', message: err && err.message !== undefined ? err.message : String(err) }));
  }
  const events = ['new_msg', 'update_online_count', 'order_shipped', 'login_error', 'msgpush:joined', 'msgpush:left'];
  for (const event of events) {
    socket.on(event, (data) => out({ tab, type: 'event', event, data }));
  }
  sockets.push(socket);
}

const closed = new Set();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  sockets.forEach((socket, tab) => {
    if (command.tab !== undefined && command.tab !== tab) return;
    if (command.emit) socket.emit(command.emit, ...(command.args || []));
    if (command.ask) {
      const event = command.ask;
      socket.emit(event, ...(command.args || []), (data) => out({ tab, type: 'ack', event, data }));
    }
    if (command.close) {
      socket.close();
      closed.add(tab);
    }
    if (command.drop) socket.io.engine.close();
  });
  if (closed.size === sockets.length) setTimeout(() => process.exit(0), 50);
});

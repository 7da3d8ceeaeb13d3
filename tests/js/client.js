// A scriptable socket.io client for the integration tests.
//
//   node client.js --url http://127.0.0.1:PORT --client 4|2 [--login TOKEN_OR_UID]
//                  [--via event|handshake] [--tabs N] [--transports websocket,polling]
//                  [--recover] [--ack]
//
// Opens N sockets ("tabs"). With --login, each logs in with that value: via
// event, by emitting `login` on every (re)connect as web-msg-sender pages do;
// via handshake, as a token in `auth: {token}` (4.x) or `query: {token}` (2.x).
// With --recover, each tab keeps the last position it saw of each stream
// (from the messages' meta, and from msgpush:recovered at each login) and
// presents them when it logs in: beside the
// token in `auth` (4.x) or the query (2.x), or as `login({token, positions})`.
// With --ack, each tab acknowledges every message that asks for it.
// Writes one JSON line per happening to stdout:
//   {"tab":0,"type":"connected"} / {"tab":0,"type":"disconnected","reason":...}
//   {"tab":0,"type":"connect_error","message":...}
//   {"tab":0,"type":"event","event":"new_msg","data":...,"meta":...,"acked":bool}
//   {"tab":0,"type":"ack","event":"msgpush:members","data":...}
// Reads JSON commands from stdin, one per line, for every tab or only for
// the one named by "tab":
//   {"emit":"login","args":[...]}   emit (args may be empty)
//   {"ask":"msgpush:members","args":[...]}
//                                    emit with an acknowledgement; its answer is an "ack" line
//   {"close":true}                   close (the process exits once every tab is closed)
//   {"drop":true}                    drop the transport (the client reconnects)
//   {"cut":true}                     drop the transport and stay disconnected
//   {"reconnect":true}               connect again after a cut (or {"reconnect":URL}: to another server)
//   {"acking":true|false}            acknowledge messages from now on, or not
//   {"ack_delay":MS}                 acknowledge MS milliseconds after each message, not at once
//   {"ack_extra":true}               with each acknowledgement, send two more by hand: the same
//                                    one again, and one for an id the server never asked for
'use strict';

const readline = require('readline');

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const flag = (name) => process.argv.includes('--' + name);

const url = option('url');
const generation = option('client', '4');
const login = option('login');
const via = option('via', 'event');
const tabs = Number(option('tabs', '1'));
const transports = option('transports', 'websocket,polling').split(',');
const recover = flag('recover');
const io = require(generation === '2' ? 'socket.io-client-v2' : 'socket.io-client');

const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const EVENTS = ['new_msg', 'update_online_count', 'order_shipped', 'login_error', 'msgpush:joined', 'msgpush:left',
  'msgpush:recovered', 'room_msg'];

// What each tab saw of each stream, whether it acknowledges (and how late),
// and the last acknowledgement id the server asked for.
const seen = [];
const acking = [];
const ackDelay = [];
const ackExtra = [];
const lastAckId = [];

function noteMeta(tab, meta) {
  if (!meta || typeof meta !== 'object' || !meta.positions) return;
  for (const [stream, place] of Object.entries(meta.positions)) {
    const known = seen[tab][stream];
    if (!known || known.epoch !== place.epoch || known.position < place.position) seen[tab][stream] = place;
  }
}

function open(tab, server) {
  const options = { transports, forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500 };
  if (login !== undefined && via === 'handshake') {
    if (generation === '2') {
      options.query = { token: login };
    } else if (recover) {
      options.auth = (cb) => cb({ token: login, positions: seen[tab] });
    } else {
      options.auth = { token: login };
    }
  }
  const socket = io(server, options);
  const onevent = socket.onevent;
  socket.onevent = function (packet) {
    if (packet.id !== undefined && packet.id !== null) lastAckId[tab] = packet.id;
    return onevent.call(this, packet);
  };
  if (generation === '2' && recover && via === 'handshake') {
    const present = () => { socket.io.opts.query = { token: login, positions: JSON.stringify(seen[tab]) }; };
    present();
    socket.io.on('reconnect_attempt', present);
    socket.presentPositions = present;
  }
  socket.on('connect', () => {
    out({ tab, type: 'connected' });
    if (login !== undefined && via === 'event') {
      socket.emit('login', recover ? { token: login, positions: seen[tab] } : login);
    }
  });
  socket.on('disconnect', (reason) => out({ tab, type: 'disconnected', reason }));
  // A refused handshake: connect_error (4.x), or an error packet (2.x).
  socket.on('connect_error', (err) => out({ tab, type: 'connect_error', message: err.message }));
  if (generation === '2') {
    socket.on('error', (err) => out({ tab, type: 'connect_error', message: err && err.message !== undefined ? err.message : String(err) }));
  }
  for (const event of EVENTS) {
    socket.on(event, (data, meta, ack) => {
      noteMeta(tab, event === 'msgpush:recovered' ? data : meta);
      const acked = typeof ack === 'function' && acking[tab];
      if (acked && ackDelay[tab] > 0) setTimeout(() => ack(), ackDelay[tab]);
      else if (acked) ack();
      if (acked && ackExtra[tab]) {
        for (const id of [lastAckId[tab], lastAckId[tab] + 1000]) socket.packet({ type: 3, id, nsp: '/', data: [] });
      }
      const line = { tab, type: 'event', event, data };
      if (meta !== undefined) line.meta = meta;
      if (typeof ack === 'function') line.acked = acked;
      out(line);
    });
  }
  return socket;
}

const sockets = [];
for (let tab = 0; tab < tabs; tab++) {
  seen.push({});
  acking.push(flag('ack'));
  ackDelay.push(0);
  ackExtra.push(false);
  lastAckId.push(undefined);
  sockets.push(open(tab, url));
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
    if (command.cut) {
      socket.io.reconnection(false);
      socket.io.engine.close();
    }
    if (command.reconnect === true) {
      if (socket.presentPositions) socket.presentPositions();
      socket.io.reconnection(true);
      socket.connect();
    } else if (typeof command.reconnect === 'string') {
      socket.io.reconnection(false);
      socket.close();
      sockets[tab] = open(tab, command.reconnect);
    }
    if (command.acking !== undefined) acking[tab] = command.acking;
    if (command.ack_delay !== undefined) ackDelay[tab] = command.ack_delay;
    if (command.ack_extra !== undefined) ackExtra[tab] = command.ack_extra;
  });
  if (closed.size === sockets.length) setTimeout(() => process.exit(0), 50);
});

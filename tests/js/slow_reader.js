// A client that connects over websocket, logs in with LOGIN (a login
// token), then never reads again: the daemon must not let it wedge anything.
// Prints "paused" when it has stopped reading.
//   node slow_reader.js ws://127.0.0.1:PORT LOGIN
'use strict';
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[2] + '/socket.io/?EIO=4&transport=websocket');
ws.on('message', (data) => {
  const packet = String(data);
  if (packet.startsWith('0')) ws.send('40'); // Engine.IO open: join the default namespace
  if (packet.startsWith('40')) {
    ws.send('42' + JSON.stringify(['login', process.argv[3]]));
    setTimeout(() => {
      ws._socket.pause();
      process.stdout.write('paused\n');
    }, 200);
  }
});
setInterval(() => {}, 1000);

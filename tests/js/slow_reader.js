// A client that connects over websocket, joins the default namespace, then
// never reads again: the daemon must not let it wedge anything.
//   node slow_reader.js ws://127.0.0.1:PORT
'use strict';
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[2] + '/socket.io/?EIO=4&transport=websocket');
ws.on('message', (data) => {
  if (String(data).startsWith('0')) {
    ws.send('40');
    ws.send('42["login","slow"]');
    setTimeout(() => {
      ws._socket.pause();
      process.stdout.write('paused\n');
    }, 200);
  }
});
setInterval(() => {}, 1000);

// The reference Engine.IO 3 payload parsers, as a line-driven service for
// the tests: engine.io-parser 1.2.2 (engine.io 1.x, the socket.io 1.3.7
// generation) and 2.2.1 (engine.io 3.x, socket.io 2.x).
//   node eio3_reference.js
// Reads one JSON request per line, writes one JSON answer per line:
//   {"parser":1|2,"encode":[packet...],"binary":true|false} -> {"hex":"..."}
//   {"parser":1|2,"decode":"hex","binary":true|false}     -> {"packets":[packet...]}
// A packet is {"type":"message","data":"text"} or {"type":"message","bin":"hex"},
// or {"type":"ping"|"pong"|"close"|"upgrade"|"noop","data":"probe"?}.
'use strict';
const readline = require('readline');
const parsers = { 1: require('engine.io-parser-v1'), 2: require('engine.io-parser-v2') };

const toReference = (p) => (p.bin !== undefined ? { type: p.type, data: Buffer.from(p.bin, 'hex') } : p);
const fromReference = (p) => {
  if (Buffer.isBuffer(p.data)) return { type: p.type, bin: p.data.toString('hex') };
  // An empty message has no data.
  if (p.type === 'message' && p.data === undefined) return { type: p.type, data: '' };
  return p.data === undefined ? { type: p.type } : { type: p.type, data: String(p.data) };
};

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line);
  const parser = parsers[request.parser];
  const answer = (value) => process.stdout.write(JSON.stringify(value) + '\n');
  if (request.encode) {
    parser.encodePayload(request.encode.map(toReference), request.binary, (data) => {
      answer({ hex: Buffer.isBuffer(data) ? data.toString('hex') : Buffer.from(data, 'utf8').toString('hex') });
    });
  } else {
    const bytes = Buffer.from(request.decode, 'hex');
    const data = request.binary ? bytes : bytes.toString('utf8');
    const packets = [];
    parser.decodePayload(data, (packet) => {
      packets.push(fromReference(packet));
    });
    answer({ packets });
  }
});

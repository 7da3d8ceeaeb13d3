// Uses msgpush.js against its declarations: tsc must refuse this file.
import * as MsgPush from '../../js/msgpush';

const client = MsgPush.connect(undefined, { token: 42 });
client.read(7);
const state: 'closed' = client.state;

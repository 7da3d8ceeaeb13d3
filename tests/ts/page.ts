// A typed page using msgpush.js as its declarations describe it.
import * as MsgPush from '../../js/msgpush';

const client: MsgPush.Client = MsgPush.connect(undefined, {
  token: 'eyJ…',
  getToken: () => fetch('/token').then((r) => r.text()),
});

client.on('new_msg', (content: unknown, meta: MsgPush.Meta) => {
  console.log(content, meta.id, meta.positions?.user?.position);
  if (meta.id) client.read(meta.id);
});
client.on('state', (state) => console.log(state === 'online'));
client.on('gap', ({ incomplete }) => console.log(incomplete.length));
client.on('joined', ({ group, uid }) => console.log(group, uid));
client.on('error', (e: Error) => console.error(e.message));

const room = client.group('room-7', {
  here: (uids: string[]) => console.log(uids),
  joining: (uid) => console.log(uid, room.members().length),
  leaving: (uid) => console.log(uid),
});

async function chat(text: string): Promise<number> {
  const answer = await client.send('chat', { room: '7', text });
  const uids: string[] = await client.members('room-7');
  return (answer.sent as number) + uids.length;
}

chat('hi').then(() => client.close());

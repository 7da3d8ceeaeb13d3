/*! msgpush.js: the browser helper of msgpush, over the socket.io client (3.x or 4.x). MIT. */
// Every feature of msgpushd, used the way it must be: a login token renewed
// before it expires, the last position of each stream kept per tab and
// presented on reconnect, repeats dropped by message id, each message
// acknowledged only once the page's handlers ran without throwing, gaps in a
// recovery reported, groups' arrivals and departures, messages to the
// application answered. Types and documentation: msgpush.d.ts.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory(function () { return require('socket.io-client'); });
  } else {
    root.MsgPush = factory(function () { return root.io; });
  }
})(typeof self !== 'undefined' ? self : this, function (findIo) {
  'use strict';

  // A token is renewed this long before it expires (or, for a token that
  // lives less than three times as long, a third of its life before).
  var RENEW_BEFORE_MS = 30000;
  // Message ids remembered per tab, to drop repeats.
  var SEEN = 500;
  // The events of the helper itself; any other name is a message event.
  var OWN = { state: 1, online: 1, gap: 1, error: 1, joined: 1, left: 1 };

  // When `token` (a JWT) should be renewed, in ms; Infinity if it does not say.
  function renewAt(token) {
    try {
      var claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      if (typeof claims.exp !== 'number') return Infinity;
      var life = typeof claims.iat === 'number' ? (claims.exp - claims.iat) * 1000 : Infinity;
      return claims.exp * 1000 - Math.min(RENEW_BEFORE_MS, life / 3);
    } catch (e) {
      return Infinity;
    }
  }

  function sessionStore() {
    try {
      return window.sessionStorage;
    } catch (e) {
      return null; // no storage (a sandboxed frame): positions last as long as the page
    }
  }

  function connect(url, options) {
    options = options || {};
    var io = options.io || findIo();
    if (typeof io !== 'function') throw new Error('msgpush.js: load the socket.io client first (/socket.io/socket.io.js)');
    if (io.protocol !== undefined && io.protocol < 5) {
      throw new Error('msgpush.js needs socket.io-client 3.x or 4.x; 2.x cannot present positions or renew tokens per reconnect');
    }
    var store = options.storage === undefined ? sessionStore() : options.storage;
    var key = 'msgpush:' + (url || location.origin);
    var kept = load();
    var positions = kept.positions || {};
    var seen = kept.seen || [];
    var seenSet = new Set(seen);
    var token = options.token || null;
    var renewing = null;
    var renewTimer = null;
    var handlers = {};
    var watched = {};
    var groups = {};

    function load() {
      try {
        return JSON.parse((store && store.getItem(key)) || '{}');
      } catch (e) {
        return {};
      }
    }

    function save() {
      try {
        if (store) store.setItem(key, JSON.stringify({ positions: positions, seen: seen }));
      } catch (e) { /* full or refused: kept in memory */ }
    }

    function emit(event, value) {
      (handlers[event] || []).slice().forEach(function (handler) {
        try {
          handler(value);
        } catch (e) {
          if (event !== 'error') emit('error', e);
        }
      });
    }

    // The token to log in with: renewed with getToken() when it is about to expire.
    function currentToken() {
      if (!options.getToken || (token && renewAt(token) > Date.now())) return Promise.resolve(token);
      if (!renewing) {
        renewing = Promise.resolve()
          .then(options.getToken)
          .then(function (fresh) {
            token = fresh;
            schedule();
            return fresh;
          })
          .finally(function () { renewing = null; });
      }
      return renewing;
    }

    // Fetches the next token ahead of time, so a reconnect never waits for it.
    function schedule() {
      clearTimeout(renewTimer);
      var at = renewAt(token) - Date.now();
      if (options.getToken && isFinite(at)) {
        renewTimer = setTimeout(function () { currentToken().catch(function (e) { emit('error', e); }); }, Math.max(at, 1000));
      }
    }

    // A connection of its own (socket.io would otherwise hand a second
    // client on the same URL the first one's socket, with its auth).
    var socketOptions = Object.assign({ forceNew: true }, options.socket, {
      auth: function (send) {
        currentToken().then(
          function (t) { send({ token: t, positions: positions }); },
          function (e) {
            emit('error', e);
            send({ positions: positions });
          }
        );
      },
    });
    var socket = io(url, socketOptions);
    if (token) schedule();

    // A message event: repeats dropped, handlers run, positions kept, and
    // the acknowledgement sent only if every handler returned.
    function deliver(event, content, meta, ack) {
      if (typeof meta === 'function') {
        ack = meta;
        meta = undefined;
      }
      meta = meta || {};
      var id = meta.id;
      var handled = !(id && seenSet.has(id));
      if (handled) {
        (handlers[event] || []).slice().forEach(function (handler) {
          try {
            handler(content, meta);
          } catch (e) {
            handled = false;
            emit('error', e);
          }
        });
      }
      if (meta.positions) Object.assign(positions, meta.positions);
      if (handled || (id && seenSet.has(id))) {
        if (id && !seenSet.has(id)) {
          seen.push(id);
          seenSet.add(id);
          if (seen.length > SEEN) seenSet.delete(seen.shift());
        }
        if (typeof ack === 'function') ack();
      }
      save();
    }

    function watch(event) {
      if (OWN[event] || watched[event]) return;
      watched[event] = true;
      socket.on(event, function (content, meta, ack) { deliver(event, content, meta, ack); });
    }

    function members(group) {
      return new Promise(function (resolve, reject) {
        socket.emit('msgpush:members', group, function (answer) {
          if (answer && answer.uids) resolve(answer.uids);
          else reject(new Error((answer && answer.error) || 'no answer'));
        });
      });
    }

    function refreshGroup(name) {
      var group = groups[name];
      members(name).then(
        function (uids) {
          group.members = new Set(uids);
          if (group.callbacks.here) group.callbacks.here(uids.slice());
        },
        function (e) { emit('error', e); }
      );
    }

    socket.on('connect', function () {
      client.state = 'online';
      emit('state', 'online');
      Object.keys(groups).forEach(refreshGroup);
    });
    socket.on('disconnect', function (reason) {
      client.state = 'offline';
      emit('state', 'offline');
      if (reason === 'io server disconnect') emit('error', new Error('msgpushd closed the connection'));
    });
    socket.on('connect_error', function (e) { emit('error', e); });
    socket.on('login_error', function (why) { emit('error', new Error('login refused: ' + JSON.stringify(why))); });
    socket.on('update_online_count', function (text) {
      client.online = text;
      emit('online', text);
    });
    socket.on('msgpush:recovered', function (recovery) {
      if (recovery.positions) Object.assign(positions, recovery.positions);
      save();
      if (!recovery.complete) emit('gap', { incomplete: recovery.incomplete || [] });
    });
    ['joined', 'left'].forEach(function (what) {
      socket.on('msgpush:' + what, function (who) {
        emit(what, who);
        var group = groups[who.group];
        if (!group) return;
        if (what === 'joined') group.members.add(who.uid);
        else group.members.delete(who.uid);
        var callback = group.callbacks[what === 'joined' ? 'joining' : 'leaving'];
        if (callback) callback(who.uid);
      });
    });

    var client = {
      socket: socket,
      state: 'connecting',
      online: null,
      on: function (event, handler) {
        (handlers[event] = handlers[event] || []).push(handler);
        watch(event);
        return client;
      },
      off: function (event, handler) {
        handlers[event] = (handlers[event] || []).filter(function (h) { return h !== handler; });
        return client;
      },
      send: function (name, data, timeoutMs) {
        return new Promise(function (resolve, reject) {
          var timer = setTimeout(function () { reject(new Error('no answer in time')); }, timeoutMs || 10000);
          socket.emit('msgpush:send', { name: name, data: data === undefined ? null : data }, function (reply) {
            clearTimeout(timer);
            if (reply && 'answer' in reply) resolve(reply.answer);
            else reject(new Error((reply && reply.error) || 'no answer'));
          });
        });
      },
      read: function (msgId) {
        socket.emit('msgpush:read', msgId);
      },
      members: members,
      group: function (name, callbacks) {
        groups[name] = { members: new Set(), callbacks: callbacks || {} };
        if (socket.connected) refreshGroup(name);
        return {
          members: function () { return Array.from(groups[name].members); },
        };
      },
      close: function () {
        clearTimeout(renewTimer);
        socket.close();
      },
    };
    return client;
  }

  return { connect: connect };
});

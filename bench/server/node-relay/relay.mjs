// Baseline for the signalling-server benchmark (bench/server/run.py): a
// minimal relay of the signalbin protocol (docs/protocol.md) on Node.js and
// the npm `ws` package, the stack of the classic browser WebRTC tutorial.
//
// It implements what the benchmark exercises, the way a short hand-written
// relay would: welcome, setProtocolVersion, setPeerStatus (announced to
// listeners), list, listConsumers, startSession (sessionStarted to the
// consumer, then startSession to the producer), peer forwarding between the
// two members of a session, endSession/endSessionV1_1 and clean-up on
// disconnect. Like signalbin-server it parses every message and serialises
// what it forwards (JSON.parse / JSON.stringify), so both do the same work per
// message. It has no limits (rate, size, peers, slow readers), no
// authentication and no keepalive.
//
// Usage: node relay.mjs [--host 127.0.0.1] [--port 0]
// First stdout line: "node-relay listening on ws://HOST:PORT/".

import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

function option(name, fallback) {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = option('host', '127.0.0.1');
const port = Number(option('port', '0'));

// id -> { ws, producer, listener, consumer, meta, version, sessions: Set }
const peers = new Map();
// sessionId -> { producer, consumer }
const sessions = new Map();
const listeners = new Set();

function send(id, message) {
    const peer = peers.get(id);
    if (peer && peer.ws.readyState === peer.ws.OPEN)
        peer.ws.send(JSON.stringify(message));
}

function sendError(id, details) {
    send(id, { type: 'error', details });
}

function roles(peer) {
    const r = [];
    if (peer.producer) r.push('producer');
    if (peer.listener) r.push('listener');
    if (peer.consumer) r.push('consumer');
    return r;
}

function broadcastStatus(id, peer, gone) {
    const text = JSON.stringify({ type: 'peerStatusChanged', peerId: id, roles: gone ? [] : roles(peer), meta: peer.meta });
    for (const listener of listeners) {
        const l = peers.get(listener);
        if (l && l.ws.readyState === l.ws.OPEN)
            l.ws.send(text);
    }
}

function endSession(sessionId, notify) {
    const s = sessions.get(sessionId);
    if (!s)
        return;
    sessions.delete(sessionId);
    peers.get(s.producer)?.sessions.delete(sessionId);
    peers.get(s.consumer)?.sessions.delete(sessionId);
    const target = peers.get(notify);
    if (!target)
        return;
    if (target.version === 'v1_1')
        send(notify, { type: 'endSessionV1_1', sessionId, error: null });
    else
        send(notify, { type: 'endSession', sessionId });
}

function endSessionsWhere(id, asProducer) {
    for (const sessionId of [...peers.get(id).sessions]) {
        const s = sessions.get(sessionId);
        if ((asProducer ? s.producer : s.consumer) === id)
            endSession(sessionId, asProducer ? s.consumer : s.producer);
    }
}

function other(s, id) {
    return s.producer === id ? s.consumer : s.producer;
}

function handle(id, peer, msg) {
    const first = !peer.heard;
    peer.heard = true;
    switch (msg.type) {
    case 'setProtocolVersion':
        if (!first)
            sendError(id, 'setProtocolVersion must be the first message on a connection');
        else if (msg.version === 'v1_0' || msg.version === 'v1_1')
            peer.version = msg.version;
        else
            sendError(id, 'invalid message: field "version": expected one of "v1_0", "v1_1"');
        break;
    case 'setPeerStatus': {
        if (!Array.isArray(msg.roles)) {
            sendError(id, 'invalid message: field "roles": expected an array');
            break;
        }
        const producer = msg.roles.includes('producer');
        const listener = msg.roles.includes('listener');
        const consumer = msg.roles.includes('consumer');
        const meta = msg.meta ?? null;
        if (producer && consumer) {
            sendError(id, 'setPeerStatus: a peer cannot be both "producer" and "consumer"');
            break;
        }
        if (producer === peer.producer && listener === peer.listener && consumer === peer.consumer &&
            JSON.stringify(meta) === JSON.stringify(peer.meta))
            break;
        if (peer.producer && !producer)
            endSessionsWhere(id, true);
        if (peer.consumer && !consumer)
            endSessionsWhere(id, false);
        Object.assign(peer, { producer, listener, consumer, meta });
        if (listener)
            listeners.add(id);
        else
            listeners.delete(id);
        broadcastStatus(id, peer, false);
        break;
    }
    case 'startSession': {
        const targetId = msg.peerId;
        const target = typeof targetId === 'string' ? peers.get(targetId) : undefined;
        if (!target) {
            sendError(id, `startSession: no peer with id "${targetId}" is connected`);
            break;
        }
        if (targetId === id) {
            sendError(id, 'startSession: a peer cannot start a session with itself');
            break;
        }
        let producer, consumer;
        if (target.producer) {
            producer = targetId;
            consumer = id;
        } else if (target.consumer && peer.producer) {
            producer = id;
            consumer = targetId;
        } else {
            sendError(id, `startSession: peer "${targetId}" is not a producer`);
            break;
        }
        const sessionId = randomUUID();
        sessions.set(sessionId, { producer, consumer });
        peers.get(producer).sessions.add(sessionId);
        peers.get(consumer).sessions.add(sessionId);
        send(consumer, { type: 'sessionStarted', peerId: producer, sessionId });
        send(producer, { type: 'startSession', peerId: consumer, sessionId, offer: msg.offer ?? null });
        break;
    }
    case 'peer': {
        const s = sessions.get(msg.sessionId);
        if (!s || (s.producer !== id && s.consumer !== id)) {
            sendError(id, `peer: you are not in a session with id "${msg.sessionId}"`);
            break;
        }
        const out = { type: 'peer', sessionId: msg.sessionId };
        if (msg.sdp && typeof msg.sdp === 'object' && msg.ice === undefined) {
            out.sdp = { type: msg.sdp.type, sdp: msg.sdp.sdp };
        } else if (msg.ice && typeof msg.ice === 'object' && msg.sdp === undefined) {
            out.ice = { candidate: msg.ice.candidate, sdpMLineIndex: msg.ice.sdpMLineIndex };
            if (typeof msg.ice.sdpMid === 'string')
                out.ice.sdpMid = msg.ice.sdpMid;
        } else {
            sendError(id, 'invalid message: field "sdp|ice": expected exactly one of "sdp" and "ice"');
            break;
        }
        send(other(s, id), out);
        break;
    }
    case 'endSession':
    case 'endSessionV1_1': {
        const s = sessions.get(msg.sessionId);
        if (!s || (s.producer !== id && s.consumer !== id)) {
            sendError(id, `endSession: you are not in a session with id "${msg.sessionId}"`);
            break;
        }
        endSession(msg.sessionId, other(s, id));
        break;
    }
    case 'list':
    case 'listConsumers': {
        const producers = msg.type === 'list';
        const found = [];
        for (const [pid, p] of peers) {
            if (producers ? p.producer : p.consumer)
                found.push({ id: pid, meta: p.meta });
        }
        send(id, producers ? { type: 'list', producers: found } : { type: 'listConsumers', consumers: found });
        break;
    }
    default:
        sendError(id, `invalid message: field "type": unknown type "${msg.type}"`);
    }
}

const wss = new WebSocketServer({ host, port, perMessageDeflate: false, clientTracking: false });

wss.on('connection', (ws) => {
    const id = randomUUID();
    const peer = { ws, producer: false, listener: false, consumer: false, meta: null, version: 'v1_0',
                   heard: false, sessions: new Set() };
    peers.set(id, peer);
    ws.send(JSON.stringify({ type: 'welcome', peerId: id }));

    ws.on('message', (data, isBinary) => {
        if (isBinary) {
            sendError(id, 'binary frames are not part of the protocol: send JSON in text frames');
            return;
        }
        let msg;
        try {
            msg = JSON.parse(data);
        } catch (e) {
            sendError(id, `invalid message: expected valid JSON (${e.message})`);
            return;
        }
        if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string') {
            sendError(id, 'invalid message: expected a JSON object with a string "type"');
            return;
        }
        handle(id, peer, msg);
    });

    ws.on('error', () => {});
    ws.on('close', () => {
        for (const sessionId of [...peer.sessions]) {
            const s = sessions.get(sessionId);
            if (s)
                endSession(sessionId, other(s, id));
        }
        peers.delete(id);
        listeners.delete(id);
        if (peer.producer || peer.listener || peer.consumer)
            broadcastStatus(id, peer, true);
    });
});

wss.on('listening', () => {
    const address = wss.address();
    process.stdout.write(`node-relay listening on ws://${address.address}:${address.port}/\n`);
});

wss.on('error', (e) => {
    process.stderr.write(`node-relay: ${e.message}\n`);
    process.exit(1);
});

for (const signal of ['SIGINT', 'SIGTERM'])
    process.on(signal, () => process.exit(0));

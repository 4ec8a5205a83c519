// An in-process storage adapter for the peer's authorization-code benchmark:
// oidc-provider's own development adapter (lib/adapters/memory_adapter.js) with
// one cost taken out that only a benchmark meets.
//
// The built-in adapter keeps, per grant, the keys of every code and token issued
// under it, and on each save walks all of them (dropping expired ones) and takes
// their maximum expiry. With one signed-in user, every exchange of a run is under
// the same grant, so that walk covers every code of the last minute (their TTL):
// the peer slowed from about 400 to 300 exchanges/s over a 40-second run on this
// machine. A real store indexes grant members in a set (Redis SADD and the like,
// O(1) per code), as here: a Map of Sets, with expired entries swept every few
// seconds instead of on each save. Everything else (what is stored, when it
// expires, consume, revokeByGrantId, findByUid) behaves as the built-in adapter.

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

// key -> { payload, expiresAt }; secondary indexes -> key or id.
const entries = new Map();
const grantMembers = new Map(); // grantId -> Set of keys
const sessionUids = new Map(); // uid -> Session id
const userCodes = new Map(); // userCode -> id

function alive(entry, now = Date.now()) {
  return entry !== undefined && entry.expiresAt > now;
}

function forget(key, entry) {
  entries.delete(key);
  const { grantId, uid, userCode } = entry.payload;
  if (grantId) grantMembers.get(grantId)?.delete(key);
  if (uid && sessionUids.get(uid) === key) sessionUids.delete(uid);
  if (userCode && userCodes.get(userCode) === key) userCodes.delete(userCode);
}

const SWEEP_MS = 5000;
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of entries) {
    if (!alive(entry, now)) forget(key, entry);
  }
  for (const [grantId, members] of grantMembers) {
    if (members.size === 0) grantMembers.delete(grantId);
  }
}, SWEEP_MS).unref();

function epochTime() {
  return Math.floor(Date.now() / 1000);
}

export default class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const previous = entries.get(key);
    if (previous) forget(key, previous);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    entries.set(key, { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) sessionUids.set(payload.uid, key);
    if (payload.userCode) userCodes.set(payload.userCode, key);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let members = grantMembers.get(payload.grantId);
      if (!members) grantMembers.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
  }

  async find(id) {
    const key = this.key(id);
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (!alive(entry)) {
      forget(key, entry);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const key = sessionUids.get(uid);
    const entry = key && entries.get(key);
    return alive(entry) ? entry.payload : undefined;
  }

  async findByUserCode(userCode) {
    const key = userCodes.get(userCode);
    const entry = key && entries.get(key);
    return alive(entry) ? entry.payload : undefined;
  }

  async consume(id) {
    const payload = await this.find(id);
    if (payload) payload.consumed = epochTime();
  }

  async destroy(id) {
    const key = this.key(id);
    const entry = entries.get(key);
    if (entry) forget(key, entry);
  }

  async revokeByGrantId(grantId) {
    const members = grantMembers.get(grantId);
    if (!members) return;
    for (const key of [...members]) {
      const entry = entries.get(key);
      if (entry) forget(key, entry);
    }
    grantMembers.delete(grantId);
  }
}

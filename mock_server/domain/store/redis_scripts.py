"""The Redis store's Lua scripts for accounts, runs, leases and seeding (those of sessions and chats
are `redis_chat_scripts`): each step that reads and then writes runs as one script, so that Redis
runs it whole, with no other client's command in between (the first cancel of a run, taking over a
run whose lease lapsed).

Every script gets the store's key prefix as ARGV[1] and builds its key names from it: the store is
for one Redis server, not a cluster. Times are read from Redis's own clock (`TIME`), so that the
leases of processes on different machines agree.
"""

from __future__ import annotations

__all__ = [
    "ABANDON_SEEDING",
    "ACCOUNT_FOR_KEY",
    "ADD_ACCOUNT",
    "ADD_RUN",
    "APPEND_CHUNKS",
    "BEGIN_SEEDING",
    "CLEAR",
    "FINISH_RUN",
    "LAPSED_RUNS",
    "RENEW_LEASES",
    "REQUEST_CANCEL",
    "TAKE_OVER",
]

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

ADD_ACCOUNT = """
local p, id = ARGV[1], ARGV[2]
if redis.call('HSET', p .. 'accounts', id, ARGV[3]) == 1 then
  redis.call('RPUSH', p .. 'account-ids', id)
end
for i = 4, #ARGV do redis.call('HSET', p .. 'keys', ARGV[i], id) end
"""

# Read on every request, as one round trip: the caller's account (a chat with the account that owns
# it is `redis_chat_scripts.CHAT_AND_OWNER`).
ACCOUNT_FOR_KEY = """
local id = redis.call('HGET', ARGV[1] .. 'keys', ARGV[2])
if not id then return false end
return redis.call('HGET', ARGV[1] .. 'accounts', id)
"""

ADD_RUN = (
    _NOW_MS
    + """
local p, id = ARGV[1], ARGV[2]
redis.call('DEL', p .. 'chunks:' .. id)
redis.call('HSET', p .. 'run:' .. id, 'record', ARGV[3], 'status', 'running', 'chunks', 0,
  'owner', ARGV[5])
redis.call('ZADD', p .. 'leases', now + tonumber(ARGV[4]), id)
"""
)

# Chunk n of a run's stream has the id 0-n, so a reader resumes from index i by reading after 0-i.
# -1: the run is not stored; -2: another process took it over (only its owner writes it).
# ARGV[4..]: the chunks, in order (the ones due at the same moment go in one call).
APPEND_CHUNKS = """
local p, id = ARGV[1], ARGV[2]
local run = p .. 'run:' .. id
local state = redis.call('HMGET', run, 'status', 'chunks', 'owner')
if not state[1] then return -1 end
if state[3] ~= ARGV[3] then return -2 end
local n = tonumber(state[2])
if state[1] ~= 'running' or #ARGV < 4 then return n end
local chunks = p .. 'chunks:' .. id
for i = 4, #ARGV do
  n = n + 1
  redis.call('XADD', chunks, '0-' .. n, 'c', ARGV[i])
end
redis.call('HSET', run, 'chunks', n)
return n
"""

# The end of the stream is an entry of its own, after the last chunk, so a reader blocked on the
# stream wakes when the run ends; `finish` wakes the processes waiting for it.
FINISH_RUN = """
local p, id = ARGV[1], ARGV[2]
local run = p .. 'run:' .. id
local state = redis.call('HMGET', run, 'status', 'chunks', 'owner')
if not state[1] or state[3] ~= ARGV[5] then return 0 end
redis.call('ZREM', p .. 'leases', id)
if state[1] == 'running' then
  redis.call('HSET', run, 'status', ARGV[3])
  redis.call('XADD', p .. 'chunks:' .. id, '0-' .. (tonumber(state[2]) + 1), 'end', ARGV[3])
  local keep = tonumber(ARGV[4])
  if keep > 0 then
    redis.call('PEXPIRE', run, keep)
    redis.call('PEXPIRE', p .. 'chunks:' .. id, keep)
  end
end
redis.call('PUBLISH', p .. 'events', 'finish ' .. id)
return 1
"""

REQUEST_CANCEL = """
local p, id = ARGV[1], ARGV[2]
local run = p .. 'run:' .. id
if redis.call('HGET', run, 'status') ~= 'running' then return 0 end
if redis.call('HSETNX', run, 'cancel', '1') == 0 then return 0 end
redis.call('PUBLISH', p .. 'events', 'cancel ' .. id)
return 1
"""

RENEW_LEASES = (
    _NOW_MS
    + """
local leases = ARGV[1] .. 'leases'
local expiry = now + tonumber(ARGV[2])
local lost = {}
for i = 4, #ARGV do
  local owner = redis.call('HGET', ARGV[1] .. 'run:' .. ARGV[i], 'owner')
  if owner == ARGV[3] and redis.call('ZSCORE', leases, ARGV[i]) then
    redis.call('ZADD', leases, expiry, ARGV[i])
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""
)

LAPSED_RUNS = (
    _NOW_MS
    + """
return redis.call('ZRANGEBYSCORE', ARGV[1] .. 'leases', '-inf', now, 'WITHSCORES')
"""
)

# Only while the lease has the expiry the taker saw lapsed: a renewal since then keeps the run.
TAKE_OVER = (
    _NOW_MS
    + """
local leases = ARGV[1] .. 'leases'
local expiry = redis.call('ZSCORE', leases, ARGV[2])
if not expiry or tonumber(expiry) > now or tonumber(expiry) ~= tonumber(ARGV[5]) then return 0 end
redis.call('ZADD', leases, now + tonumber(ARGV[3]), ARGV[2])
redis.call('HSET', ARGV[1] .. 'run:' .. ARGV[2], 'owner', ARGV[4])
return 1
"""
)

# 1: the caller loads the seed; 0: a load is under way, ask again; else the digest held.
BEGIN_SEEDING = """
local marker = ARGV[1] .. 'seed'
local held = redis.call('GET', marker)
if held and string.sub(held, 1, 8) == 'loading:' then return 0 end
if held and ARGV[3] == '0' then return string.sub(held, 6) end
redis.call('SET', marker, 'loading:' .. ARGV[2], 'EX', tonumber(ARGV[4]))
return 1
"""

ABANDON_SEEDING = """
local marker = ARGV[1] .. 'seed'
if redis.call('GET', marker) == ARGV[2] then redis.call('DEL', marker) end
"""

# Every key under the prefix forgotten, but `kept` and the grant of a seed load under way, in one
# step: a write landing between two batches of a reset would leave the chats' counters (bytes,
# idle order) counting what is gone. Blocks Redis for the reset's length (about 2 s per million
# keys), which a reset, rare and done by hand, may.
CLEAR = """
local p = ARGV[1]
local kept = {[p .. 'kept'] = true}
local held = redis.call('GET', p .. 'seed')
if held and string.sub(held, 1, 8) == 'loading:' then kept[p .. 'seed'] = true end
local cursor, forgotten = '0', 0
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', p .. '*', 'COUNT', 1000)
  cursor = found[1]
  local doomed = {}
  for _, key in ipairs(found[2]) do if not kept[key] then table.insert(doomed, key) end end
  if #doomed > 0 then redis.call('UNLINK', unpack(doomed)) end
  forgotten = forgotten + #doomed
until cursor == '0'
redis.call('PUBLISH', p .. 'events', 'reset')
return forgotten
"""

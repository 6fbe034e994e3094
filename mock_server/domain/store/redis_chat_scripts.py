"""The Redis store's Lua scripts for sessions, chats and messages, and what the chats take against
the bounds (`--max-chats`, `--max-store-bytes`): each step that reads and then writes runs as one
script, so that Redis runs it whole (the compare-and-set release of a chat, a bounded add with its
evictions). The conventions are `redis_scripts`': the prefix is ARGV[1].
"""

from __future__ import annotations

__all__ = [
    "ADD_CHAT",
    "ADD_SESSION",
    "APPEND_MESSAGE",
    "CHAT_AND_OWNER",
    "MARK_READ",
    "REMOVE_CHAT",
    "REPLACE_SESSION",
    "SWAP_ACTIVE_STREAM",
    "UPDATE_CHAT",
]

# Read on every request about a chat, as one round trip: the chat with the account that owns it.
CHAT_AND_OWNER = """
local p = ARGV[1]
local key = p .. 'chat:' .. ARGV[2]
local fields = redis.call('HGETALL', key)
if #fields == 0 then return false end
local session
for i = 1, #fields, 2 do if fields[i] == 'session' then session = fields[i + 1] end end
table.insert(fields, '__owner')
table.insert(fields, redis.call('HGET', p .. 'session-owner', session) or '')
return fields
"""

# A function both scripts below define: a session is stored alone, or with its first chat.
_ADD_SESSION_FUNCTION = """
local function add_session(p, id, owner, text)
  local previous = redis.call('HGET', p .. 'session-owner', id)
  if previous ~= owner then
    if previous then redis.call('LREM', p .. 'sessions-of:' .. previous, 0, id) end
    redis.call('RPUSH', p .. 'sessions-of:' .. owner, id)
    redis.call('HSET', p .. 'session-owner', id, owner)
  end
  redis.call('SET', p .. 'session:' .. id, text)
end
"""

ADD_SESSION = (
    _ADD_SESSION_FUNCTION
    + """
add_session(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
"""
)

# A session's record replaced only if it is still the one the change was made from: 1 replaced,
# 0 changed meanwhile (read it again), -1 forgotten (it stays so).
REPLACE_SESSION = """
local key = ARGV[1] .. 'session:' .. ARGV[2]
local current = redis.call('GET', key)
if not current then return -1 end
if current ~= ARGV[3] then return 0 end
redis.call('SET', key, ARGV[4])
return 1
"""

# What a chat takes (see `space`): its `bytes` field, their sum in `bytes`, and `idle-order`, the
# idle chats (no generation or claim holds them) scored in the order they became idle, with their
# sum in `idle-bytes`; so that making room costs O(log n) per chat evicted, whatever is busy.
_CHAT_FUNCTIONS = (
    _ADD_SESSION_FUNCTION
    + """
local function num(value) return tonumber(value) or 0 end

local function set_idle(p, id, idle)
  local size = num(redis.call('HGET', p .. 'chat:' .. id, 'bytes'))
  if redis.call('ZREM', p .. 'idle-order', id) == 1 then redis.call('DECRBY', p .. 'idle-bytes', size) end
  if idle then
    redis.call('ZADD', p .. 'idle-order', redis.call('INCR', p .. 'idle-seq'), id)
    redis.call('INCRBY', p .. 'idle-bytes', size)
  end
end

local function resize(p, id, delta)
  redis.call('HINCRBY', p .. 'chat:' .. id, 'bytes', delta)
  redis.call('INCRBY', p .. 'bytes', delta)
  if redis.call('ZSCORE', p .. 'idle-order', id) then redis.call('INCRBY', p .. 'idle-bytes', delta) end
end

-- A chat forgotten with its messages and read marks, and its session when it was the last chat,
-- unless that is `keeping` (the session a new chat is added to).
local function forget_chat(p, id, keeping)
  local key = p .. 'chat:' .. id
  local fields = redis.call('HMGET', key, 'session', 'bytes')
  set_idle(p, id, false)
  redis.call('DECRBY', p .. 'bytes', num(fields[2]))
  redis.call('DEL', key, p .. 'messages:' .. id, p .. 'reads:' .. id)
  redis.call('ZREM', p .. 'chat-order', id)
  local session = fields[1]
  if session then
    redis.call('LREM', p .. 'chats-of:' .. session, 0, id)
    if redis.call('LLEN', p .. 'chats-of:' .. session) == 0 and session ~= keeping then
      local owner = redis.call('HGET', p .. 'session-owner', session)
      redis.call('DEL', p .. 'session:' .. session)
      redis.call('HDEL', p .. 'session-owner', session)
      if owner then redis.call('LREM', p .. 'sessions-of:' .. owner, 0, session) end
    end
  end
end

-- The idle chats to forget, the longest idle first, so that `need` more bytes fit `budget` (> 0),
-- never `keep`; false, and nothing to forget, when they cannot.
local function room_for(p, need, keep, budget)
  if budget <= 0 then return {} end
  local over = num(redis.call('GET', p .. 'bytes')) + need - budget
  if over <= 0 then return {} end
  local freeable = num(redis.call('GET', p .. 'idle-bytes'))
  if redis.call('ZSCORE', p .. 'idle-order', keep) then
    freeable = freeable - num(redis.call('HGET', p .. 'chat:' .. keep, 'bytes'))
  end
  if freeable < over then return false end
  local doomed, start = {}, 0
  while over > 0 do
    local ids = redis.call('ZRANGE', p .. 'idle-order', start, start + 9)
    if #ids == 0 then return false end
    for _, id in ipairs(ids) do
      if id ~= keep and over > 0 then
        table.insert(doomed, id)
        over = over - num(redis.call('HGET', p .. 'chat:' .. id, 'bytes'))
      end
    end
    start = start + 10
  end
  return doomed
end

-- `room_for`'s chats forgotten; false, and nothing forgotten, when `need` cannot fit.
local function make_room(p, need, keep, budget)
  local doomed = room_for(p, need, keep, budget)
  if not doomed then return false end
  for _, victim in ipairs(doomed) do forget_chat(p, victim) end
  return true
end

-- A message appended to a stored chat, keeping its last `keep` (0: all), at `now`; `assistant`
-- ('1') stamps the last answer too. The messages `keep` drops are counted off before the budget
-- is checked; false, and nothing changed, when the message does not fit.
local function append_message(p, id, text, keep, now, assistant, budget)
  local key = p .. 'chat:' .. id
  local messages = p .. 'messages:' .. id
  local drop = 0
  if keep > 0 then drop = math.max(0, redis.call('LLEN', messages) + 1 - keep) end
  local delta = #text
  if drop > 0 then
    for _, old in ipairs(redis.call('LRANGE', messages, 0, drop - 1)) do delta = delta - #old end
  end
  if not make_room(p, delta, id, budget) then return false end
  redis.call('RPUSH', messages, text)
  if drop > 0 then redis.call('LTRIM', messages, drop, -1) end
  resize(p, id, delta)
  redis.call('HSET', key, 'updated', now)
  if assistant == '1' then redis.call('HSET', key, 'last', now) end
  return true
end
"""
)

# 1: added; 0: a chat of that id is stored; -1: the store holds ARGV[10] chats (> 0), none idle;
# -3: the chat does not fit the byte budget ARGV[11]. The count, the evictions and the add are one
# step: concurrent adds never pass a bound. With ARGV[12] (its owner) and ARGV[13], the chat's
# session is stored in the same step, once the chat has room: a refused chat leaves no session
# behind, an evicted one takes none of it.
ADD_CHAT = (
    _CHAT_FUNCTIONS
    + """
local p, id, session = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'chat:' .. id
if redis.call('EXISTS', key) == 1 then return 0 end
local size = #ARGV[4] + #ARGV[8] + #ARGV[9]
local doomed = room_for(p, size, id, tonumber(ARGV[11]))
if not doomed then return -3 end
local most = tonumber(ARGV[10])
if most > 0 and redis.call('ZCARD', p .. 'chat-order') - #doomed >= most then
  -- the doomed are the longest idle: the next one makes room for the count
  local next_idle = redis.call('ZRANGE', p .. 'idle-order', #doomed, #doomed)[1]
  if not next_idle then return -1 end
  table.insert(doomed, next_idle)
end
for _, victim in ipairs(doomed) do forget_chat(p, victim, session) end
if ARGV[12] then add_session(p, session, ARGV[12], ARGV[13]) end
redis.call('HSET', key, 'record', ARGV[4], 'session', session, 'active', ARGV[5],
  'updated', ARGV[6], 'last', ARGV[7], 'title', ARGV[8], 'model', ARGV[9], 'bytes', size)
redis.call('INCRBY', p .. 'bytes', size)
redis.call('ZADD', p .. 'chat-order', redis.call('INCR', p .. 'chat-seq'), id)
redis.call('RPUSH', p .. 'chats-of:' .. session, id)
if ARGV[5] == '' then set_idle(p, id, true) end
return 1
"""
)

# 1: added; 0: the chat is not stored (it stays so); -1: the message does not fit the budget.
# ARGV[3] is the time, ARGV[4..7] the message, how many to keep, whether it is an answer, the budget.
APPEND_MESSAGE = (
    _CHAT_FUNCTIONS
    + """
local p, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'chat:' .. id) == 0 then return 0 end
if not append_message(p, id, ARGV[4], tonumber(ARGV[5]), ARGV[3], ARGV[6], tonumber(ARGV[7])) then
  return -1
end
return 1
"""
)

# A chat's title and model, once changed, are fields beside its record (which keeps the first ones).
# -1: the change does not fit the byte budget ARGV[6].
UPDATE_CHAT = (
    _CHAT_FUNCTIONS
    + """
local p, id = ARGV[1], ARGV[2]
local key = p .. 'chat:' .. id
if redis.call('EXISTS', key) == 0 then return false end
local now = redis.call('HMGET', key, 'title', 'model')
local delta = 0
if ARGV[3] ~= '' then delta = delta + #ARGV[3] - #(now[1] or '') end
if ARGV[4] ~= '' then delta = delta + #ARGV[4] - #(now[2] or '') end
if not make_room(p, delta, id, tonumber(ARGV[6])) then return -1 end
if ARGV[3] ~= '' then redis.call('HSET', key, 'title', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', key, 'model', ARGV[4]) end
resize(p, id, delta)
redis.call('HSET', key, 'updated', ARGV[5])
return redis.call('HGETALL', key)
"""
)

# The session's count of chats and the removal in one step: a session keeps at least one chat.
REMOVE_CHAT = (
    _CHAT_FUNCTIONS
    + """
local p, session, id = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'chat:' .. id
if redis.call('HGET', key, 'session') ~= session then return {'missing', ''} end
if redis.call('LLEN', p .. 'chats-of:' .. session) <= 1 then return {'only-chat', ''} end
local active = redis.call('HGET', key, 'active') or ''
forget_chat(p, id)
return {'removed', active}
"""
)

MARK_READ = """
local p, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'chat:' .. id) == 0 then return 0 end
redis.call('HSET', p .. 'reads:' .. id, ARGV[3], ARGV[4])
return 1
"""

# '' stands for no active stream.
# 1: swapped; 0: the chat did not hold ARGV[3]; -1: the message ARGV[6..9] (as APPEND_MESSAGE's
# ARGV[4..7]), to append in the same step, does not fit the budget: neither happened.
SWAP_ACTIVE_STREAM = (
    _CHAT_FUNCTIONS
    + """
local p, id = ARGV[1], ARGV[2]
local key = p .. 'chat:' .. id
local active = redis.call('HGET', key, 'active')
if active ~= ARGV[3] then return 0 end
if ARGV[6] and not append_message(p, id, ARGV[6], tonumber(ARGV[7]), ARGV[5], ARGV[8], tonumber(ARGV[9])) then
  return -1
end
redis.call('HSET', key, 'active', ARGV[4], 'updated', ARGV[5])
set_idle(p, id, ARGV[4] == '')
return 1
"""
)

-- One chat turn: compare the session's revision and epoch, then write it,
-- and for a filed claim reserve the receipt number and append the claim to
-- the outbox. All or nothing: Redis runs a script atomically.
--
-- The revision starts at 1 again in a session made after the last one
-- expired, so it alone cannot tell them apart: the epoch, made with the
-- session and written first in its JSON, does. A value without one (written
-- before epochs) has the epoch ''.
--
-- ARGV[5] is the turn's fence, unix ms: a script that runs after it (a
-- Redis that was frozen or slow, and whose caller has told the user
-- "unavailable") applies nothing and returns {3, its time}. 0: no fence.
-- It is checked after the compare: a script sent again after it was
-- applied (a client's retry on a new connection) finds the revision moved
-- and says so, never "not applied".
local cur = redis.call('GET', KEYS[1])
local rev, epoch = 0, ''
if cur then
  rev = tonumber(string.match(cur, '^(%d+)')) or 0
  epoch = string.match(cur, '^%d+\n{"e":"([^"]*)"') or ''
end
if rev ~= tonumber(ARGV[1]) or epoch ~= ARGV[2] then
  return {0, cur}
end
local fence = tonumber(ARGV[5])
if fence > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now > fence then
    return {3, now}
  end
end

if ARGV[6] and ARGV[6] ~= '' then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[9]) then
    return {2}
  end
  redis.call('XADD', KEYS[2], '*', 'claim', ARGV[6], 'body', ARGV[7], 'at', ARGV[8])
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])

-- The intake counts (package insight), applied with the write or not at
-- all. From ARGV[10] (ARGV[6] to ARGV[9] are '' for a turn without a
-- claim): user, now and when the conversation stops (unix ms), the state it
-- waits in ('' when it ended), started ('1': a new conversation), then
-- n and n fields counted each time, then m and m (token, field) pairs
-- counted once per conversation: the caller counted them against the
-- session's own list of what it counted (written above with the session),
-- so each is new. KEYS[4] counts, KEYS[5] live, KEYS[6] at.
if ARGV[10] then
  local counts, live, at = KEYS[4], KEYS[5], KEYS[6]
  local user, now, stop = ARGV[10], tonumber(ARGV[11]), ARGV[12]
  local waiting, started = ARGV[13], ARGV[14] == '1'
  -- at holds "<state>|<when it stops>|". A conversation that made no
  -- move until it was due stopped where it waited: counted once, and
  -- forgotten.
  local function fold(u, v)
    if v then
      local st, due = string.match(v, '^([^|]*)|(%d+)|')
      if tonumber(due or '0') > now then
        redis.call('ZADD', live, due, u) -- it moved since: not stopped
        return
      end
      redis.call('HDEL', at, u)
      redis.call('HINCRBY', counts, 'stopped:' .. st, 1)
    end
    redis.call('ZREM', live, u)
  end
  if started then
    -- The user's last conversation, if its entry is still here, stopped
    -- when it was due (its session expired): fold it before this one
    -- takes its place. A conversation under way never reads at.
    local v = redis.call('HGET', at, user)
    if v then
      local due = string.match(v, '^[^|]*|(%d+)|')
      if tonumber(due or '0') <= now then
        fold(user, v)
      end
    end
  end
  local i = 15
  local n = tonumber(ARGV[i])
  for j = 1, n do
    redis.call('HINCRBY', counts, ARGV[i + j], 1)
  end
  i = i + n + 1
  n = tonumber(ARGV[i])
  for j = 1, n do
    redis.call('HINCRBY', counts, ARGV[i + 2 * j], 1)
  end
  if waiting ~= '' then
    -- The live set's time is a conversation's earliest stop: at holds the
    -- exact one, and whoever finds it moved puts it right (fold). An
    -- entry made anew (HSET answers 1) joins the live set.
    if redis.call('HSET', at, user, waiting .. '|' .. stop .. '|') == 1 or started then
      redis.call('ZADD', live, stop, user)
    end
  elseif redis.call('HDEL', at, user) == 1 then
    redis.call('ZREM', live, user)
  end
  -- A conversation that starts looks at up to 4 others of the shard due
  -- to stop, folding those stopped and re-indexing those that moved on,
  -- so the live set holds about the conversations under way (the report
  -- folds the rest).
  if started then
    for _, u in ipairs(redis.call('ZRANGEBYSCORE', live, '-inf', now, 'LIMIT', 0, 4)) do
      fold(u, redis.call('HGET', at, u))
    end
  end
end
return {1, rev + 1}

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

if ARGV[7] then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[10]) then
    return {2}
  end
  redis.call('XADD', KEYS[2], '*', 'claim', ARGV[7], 'body', ARGV[8], 'at', ARGV[9])
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])

-- The intake counts (package insight), applied with the write or not at
-- all: ARGV[6] is the turn's field, every count it adds one to joined by
-- spaces (one field of the hash, which the report splits; '' for none),
-- KEYS[4] the flow's counts hash in the user's shard. The caller counted
-- the once-per-conversation ones against the session's own list of what it
-- counted, written above with the session, so each is new. One command:
-- a script's every call costs a turn more than anything else counting does.
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[4], ARGV[6], 1)
end
return {1, rev + 1}

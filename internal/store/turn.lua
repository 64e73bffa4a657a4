-- One chat turn: compare the session's revision, then write it, and for a
-- filed claim reserve the receipt number and append the claim to the
-- outbox. All or nothing: Redis runs a script atomically.
local cur = redis.call('GET', KEYS[1])
local rev = 0
if cur then
  rev = tonumber(string.match(cur, '^(%d+)')) or 0
end
if rev ~= tonumber(ARGV[1]) then
  return {0, cur}
end
if ARGV[4] then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[7]) then
    return {2}
  end
  redis.call('XADD', KEYS[2], '*', 'claim', ARGV[4], 'body', ARGV[5], 'at', ARGV[6])
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, rev + 1}

-- upstreamkit: one upstream's shared state, synchronised in one atomic call (see state/redis.py).
--
-- A process pushes what it learnt since its last call (outcome counts, a local trip, a probe's result,
-- retry-budget deposits and withdrawals, a Retry-After block) and gets the shared state back. Time is the
-- Redis server's (TIME), never a host's: every time in the reply is relative to it (milliseconds left).
-- Missing keys are the normal empty state; nothing here resets what exists. Every number in and out is
-- an integer, so clients with decode_responses on or off read the same reply.
--
-- KEYS: 1 breaker hash, 2 breaker window hash, 3 budget hash, 4 limiter block (string)
-- ARGV: 1 this process's name, 2 the numbers of state/_shared.py's payload(), comma-separated (the order is
-- the contract between the two files)

-- The numbers come as one comma-separated ARGV[2] (encoding 30 arguments one by one was most of a client's
-- cost per upstream); A[i] below is argument i of the list in state/_shared.py's payload().
local A = {ARGV[1]}
for v in string.gmatch(ARGV[2], '[^,]+') do A[#A + 1] = v end
local me = A[1]
local now = tonumber(A[2])
if now <= 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(i) return tonumber(A[i]) end

-- Breaker --------------------------------------------------------------------------------------------
local epoch, gen, st, left, fp, cf = 0, 0, 0, 0, 0, 0
if A[3] == '1' then
  local key, wkey = KEYS[1], KEYS[2]
  local limit, rate, slow_rate, min_calls = num(4), num(5) / 1000, num(6) / 1000, num(7)
  local window, open_for, growth, max_open, lease_for = num(8), num(9), num(10) / 1000, num(11), num(12)
  local known_epoch, known_gen = num(13), num(14)
  local calls, failures, slow, streak, reset = num(15), num(16), num(17), num(18), A[19] == '1'
  local local_open, probe, probe_hold = num(20), num(21), num(22)
  local h = redis.call('HMGET', key, 'epoch', 'gen', 'st', 'until', 'fp', 'cf', 'prober', 'lease')
  epoch = tonumber(h[1]) or 0
  gen = tonumber(h[2]) or 0
  st = tonumber(h[3]) or 0
  local till = tonumber(h[4]) or 0
  fp = tonumber(h[5]) or 0
  cf = tonumber(h[6]) or 0
  local prober = h[7] or ''
  local lease = tonumber(h[8]) or 0
  if epoch == 0 then epoch = now end  -- a new shared state: its epoch tells processes it is not the one they knew

  local function break_after(n)
    local b = open_for
    for _ = 1, math.min(n, 64) do
      b = b * growth
      if b >= max_open then return max_open end
    end
    return math.min(b, max_open)
  end
  local function open(ms)
    st, till, gen, prober, lease, cf = 1, now + ms, gen + 1, '', 0, 0
    redis.call('DEL', wkey)
  end

  if st == 1 then
    if probe == 1 and prober == me then
      st, gen, fp, cf, prober, lease = 0, gen + 1, 0, 0, '', 0
    elseif probe == -1 and prober == me then
      fp = fp + 1
      open(math.max(break_after(fp), math.min(probe_hold, max_open)))
    elseif now >= till and (prober == '' or now >= lease) then
      prober, lease = me, now + lease_for  -- the next probe is this process's; another may take over after lease
    end
  else
    local width = math.max(math.floor(window / 10), 1)
    local b = math.floor(now / width)
    if calls > 0 then
      redis.call('HINCRBY', wkey, 'c:' .. b, calls)
      if failures > 0 then redis.call('HINCRBY', wkey, 'f:' .. b, failures) end
      if slow > 0 then redis.call('HINCRBY', wkey, 's:' .. b, slow) end
      redis.call('PEXPIRE', wkey, window + width)
    end
    if reset then cf = streak else cf = cf + failures end
    local sums = {c = 0, f = 0, s = 0}
    local all = redis.call('HGETALL', wkey)
    for i = 1, #all, 2 do
      local kind, n = string.match(all[i], '^(%a):(%d+)$')
      if kind and tonumber(n) > b - 10 then
        sums[kind] = sums[kind] + tonumber(all[i + 1])
      else
        redis.call('HDEL', wkey, all[i])
      end
    end
    if local_open > 0 and (known_epoch ~= epoch or known_gen == gen) then
      open(math.min(local_open, max_open))  -- what a process learnt alone (a trip, or while Redis was away)
    elseif limit > 0 and cf >= limit then
      open(open_for)
    elseif sums.c >= min_calls and calls > 0 and (
      (rate > 0 and failures > 0 and sums.f >= rate * sums.c) or (slow_rate > 0 and sums.s >= slow_rate * sums.c)
    ) then
      open(open_for)
    end
  end
  if st == 1 then
    if prober == me and now >= till then
      left = lease - now
      st = 2  -- half open, and the probe is this process's
    else
      left = math.max(till - now, 0)
      if prober ~= '' and now >= till then left = math.max(lease - now, 0) end
    end
  end
  redis.call('HSET', key, 'epoch', epoch, 'gen', gen, 'st', math.min(st, 1), 'until', till, 'fp', fp, 'cf', cf,
    'prober', prober, 'lease', lease)
  redis.call('PEXPIRE', key, math.max(till - now, 0) + lease_for + 2 * window + 60000)
end

-- Retry budget ---------------------------------------------------------------------------------------
local deposits, withdrawals, tokens = -1, -1, -1
if A[23] == '1' then
  local key, ttl = KEYS[3], num(24)
  local dep, wd, delta, max_tokens = num(25), num(26), num(27), num(28)
  local width = math.max(math.floor(ttl / 10), 1)
  local b = math.floor(now / width)
  if dep > 0 then redis.call('HINCRBY', key, 'd:' .. b, dep) end
  if wd > 0 then redis.call('HINCRBY', key, 'w:' .. b, wd) end
  if max_tokens > 0 then
    tokens = tonumber(redis.call('HGET', key, 'tok')) or max_tokens
    tokens = math.max(math.min(tokens + delta, max_tokens), 0)
    redis.call('HSET', key, 'tok', tokens)
  end
  deposits, withdrawals = 0, 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local kind, n = string.match(all[i], '^(%a):(%d+)$')
    if kind then
      if tonumber(n) > b - 10 then
        if kind == 'd' then deposits = deposits + tonumber(all[i + 1]) else withdrawals = withdrawals + tonumber(all[i + 1]) end
      else
        redis.call('HDEL', key, all[i])
      end
    end
  end
  redis.call('PEXPIRE', key, math.max(2 * ttl, 600000))
end

-- Rate limiter: a Retry-After or an exhausted quota holds every process --------------------------------
local block = tonumber(redis.call('GET', KEYS[4])) or 0
local push = num(29)
if push > 0 and now + push > block then
  block = now + push
  redis.call('SET', KEYS[4], block, 'PX', push)
end

return {now, epoch, gen, st, left, fp, cf, deposits, withdrawals, tokens, math.max(block - now, 0)}

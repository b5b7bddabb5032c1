-- wrk: status polls, each request carrying the next of many real tickets.
-- Usage: wrk -s bench/poll.lua URL -- TICKETS_FILE (one signed ticket per line)

local tickets = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      tickets[#tickets + 1] = line
    end
  end
  -- Threads start at different places in the list.
  i = math.random(#tickets)
end

function request()
  i = i % #tickets + 1
  return wrk.format("GET", nil, {["X-Queue-Ticket"] = tickets[i]})
end

-- The part of every bench wrk script that does not depend on the endpoint (bench/lua.py
-- appends the request). wrk runs one Lua state per thread, plus one for setup() and
-- done(); the arguments after `--` are: a prefix unique to this wrk run, a seed, the
-- first and last item id, and the number of pages.

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   run_prefix = args[1]
   math.randomseed(tonumber(args[2]) + thread_number)
   first_item, last_item, pages = tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
   sent = 0
   statuses = {}
end

function random_item()
   return math.random(first_item, last_item)
end

function random_page()
   return math.random(1, pages)
end

-- Unique across the whole bench run: the run's prefix, then this thread's counter.
function unique()
   sent = sent + 1
   return run_prefix .. "-" .. thread_number .. "-" .. sent
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         total[status] = (total[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(total) do
      table.insert(parts, status .. "=" .. count)
   end
   io.write("Statuses: " .. table.concat(parts, " ") .. "\n")
end

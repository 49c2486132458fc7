-- HTTP/1.1 pipelining: each connection sends N requests at once and waits for
-- all N responses before the next batch. N is the argument after `--` (16 if
-- none). wrk counts every response; it times each batch as one latency sample.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  batch = string.rep(wrk.format(), depth)
end

function request()
  return batch
end

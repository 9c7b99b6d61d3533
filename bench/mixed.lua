-- wrk: a mix of reads against imgforge serve, for `make loadtest`. The image ids and the key
-- come from the environment: IMAGE_IDS (comma-separated) and API_KEY.
local ids = {}
for id in string.gmatch(os.getenv("IMAGE_IDS"), "[^,]+") do
  table.insert(ids, id)
end
local key = os.getenv("API_KEY")
local counter = 0

request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  local kind = counter % 3
  local path
  if kind == 0 then
    path = "/v1/images/" .. id
  elseif kind == 1 then
    path = "/v1/images?take=10"
  else
    path = "/v1/images/" .. id .. "/download"
  end
  return wrk.format("GET", path, { ["x-api-key"] = key })
end

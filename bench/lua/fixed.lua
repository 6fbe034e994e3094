-- One fixed request, built once per thread (wrk formats it after init): -- METHOD PATH [API-KEY]
function init(args)
  wrk.method = args[1]
  wrk.path = args[2]
  if args[3] and args[3] ~= "" then wrk.headers["x-api-key"] = args[3] end
end

print(results.to_json(pretty=True))
data = results.to_dict()
print(results.to_json(raw=True, pretty=True))
raw = results.to_dict(raw=True)

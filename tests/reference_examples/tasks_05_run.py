import genja as genja_lib

genja = genja_lib.Genja.from_settings_file("settings.yaml")
results = genja.run_task(CollectFacts, max_depth=1)
print(results.to_json(pretty=True))

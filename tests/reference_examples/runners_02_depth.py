results = genja.run_task(CollectFacts, max_depth=1)

"""vidft's data layer: video readers (:mod:`.video`), annotation parsers
(:mod:`.annotations`), transforms (:mod:`.transforms`) and dataset base
classes (:mod:`.datasets`). Importing this package imports none of them."""

"""Video recognition plugin of vidft (scope ``recognition``)."""

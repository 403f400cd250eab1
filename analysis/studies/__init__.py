"""The studies behind the project, each reproducible from the package (see `originality`)."""

"""Jobs that run stylizers over media: the threaded pipeline, a job in this process, batches,
HQ mode, segments of long videos on Ray with their work folders, the live webcam."""

// Engine: being written.

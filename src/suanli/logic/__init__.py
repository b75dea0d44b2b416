"""Pure decision logic over domain objects: scheduling, metering. No I/O."""

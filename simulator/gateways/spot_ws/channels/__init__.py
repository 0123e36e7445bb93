"""Channel state and message builders (book, level3, ticker, trade, ohlc, instrument)."""

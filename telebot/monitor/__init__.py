"""Monitoring: psutil sampler, per-function timings, loop lag, reports, /stats, its chart.

Everything here is a plain component with injectable clocks and waits; the
wiring (starting threads, the /stats handler, the heartbeat of getUpdates)
lives in the application. Import the modules themselves: the package imports nothing, so the
store's timings (``perf``) do not bring psutil and the chart code into start-up.
"""

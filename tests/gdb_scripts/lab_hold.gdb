# Hold the stopped process while the test reads ground truth outside gdb (the guest's /proc): create
# $LABT_HOLD.stopped, then wait (at most 120 s) until $LABT_HOLD.go exists.
python
import os, time
_hold = os.environ["LABT_HOLD"]
open(_hold + ".stopped", "w").close()
_t = time.time()
while not os.path.exists(_hold + ".go") and time.time() - _t < 120:
    time.sleep(0.05)
end

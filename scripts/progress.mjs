// A one-line progress bar for long jobs: redraws in place on a terminal, prints every ~10% otherwise.
export function progressBar(label) {
  const tty = process.stdout.isTTY;
  let lastDecile = -1;
  return {
    update(done, total, extra = "") {
      const ratio = total === 0 ? 1 : done / total;
      const width = 30;
      const filled = Math.round(ratio * width);
      const line = `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${extra}`;
      if (tty) process.stdout.write(`\r${line}\x1b[K`);
      else if (Math.floor(ratio * 10) !== lastDecile || done === total) {
        lastDecile = Math.floor(ratio * 10);
        console.log(line);
      }
    },
    done() {
      if (tty) process.stdout.write("\n");
    },
  };
}

// Keeps /dashboard live: once a second, asks /dashboard/data for the latest figures and the
// charts drawn by the server, and puts them in place. Drawing stays on the server (plotters),
// so this script only copies text and SVG into the elements named by data-metric / data-chart.
(() => {
  const page = document.documentElement;
  const seconds = page.dataset.seconds;
  const connection = document.getElementById("connection");
  let shown = null;
  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const answer = await fetch(`/dashboard/data?charts=true&seconds=${seconds}`, { cache: "no-store" });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      const frame = await answer.json();
      connection.textContent = "live";
      if (frame.sequence === shown) return;
      shown = frame.sequence;
      for (const element of document.querySelectorAll("[data-metric]")) {
        const value = frame.figures[element.dataset.metric];
        if (value !== undefined) element.textContent = value;
      }
      for (const element of document.querySelectorAll("[data-chart]")) {
        const svg = frame.charts[element.dataset.chart];
        if (svg !== undefined) element.innerHTML = svg;
      }
      page.dataset.health = frame.figures["ferrobill.health.status"];
    } catch (error) {
      connection.textContent = `no answer from the server (${error.message}); retrying`;
    } finally {
      busy = false;
    }
  }

  refresh();
  setInterval(refresh, 1000);
})();

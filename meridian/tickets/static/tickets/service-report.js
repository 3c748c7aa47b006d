/* Service report charts (tickets.reports): the figures come from the json_script element "service-report-data". */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("service-report-data");
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var common = { responsive: true, maintainAspectRatio: false, animation: false };
    var percentAxis = { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } };
    var countAxis = { y: { beginAtZero: true, ticks: { precision: 0 } } };
    var colours = ["#0d6efd", "#6f42c1", "#198754", "#dc3545", "#fd7e14"];
    var specs = {
      "volumes": {
        type: "bar",
        data: {
          labels: data.volumes.labels,
          datasets: data.volumes.series.map(function (s, i) {
            return { label: s.label, data: s.data, backgroundColor: colours[i] };
          })
        },
        options: Object.assign({ scales: countAxis }, common)
      },
      "compliance": {
        type: "bar",
        data: {
          labels: data.compliance.labels,
          datasets: [
            { label: "Met", data: data.compliance.met, backgroundColor: "#198754" },
            { label: "Breached", data: data.compliance.breached, backgroundColor: "#dc3545" }
          ]
        },
        options: Object.assign(
          { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
          common
        )
      },
      "trend-volume": {
        type: "bar",
        data: {
          labels: data.trend.labels,
          datasets: [
            { label: "Incidents", data: data.trend.incidents, backgroundColor: colours[0] },
            { label: "Requests", data: data.trend.requests, backgroundColor: colours[1] }
          ]
        },
        options: Object.assign({ scales: countAxis }, common)
      },
      "trend-compliance": {
        type: "line",
        data: {
          labels: data.trend.labels,
          datasets: [
            { label: "Response met %", data: data.trend.response, borderColor: colours[0], spanGaps: true },
            { label: "Resolution met %", data: data.trend.resolution, borderColor: colours[2], spanGaps: true }
          ]
        },
        options: Object.assign({ scales: percentAxis }, common)
      },
      "ratings": {
        type: "bar",
        data: {
          labels: data.ratings.labels,
          datasets: [{ label: "Ratings", data: data.ratings.data, backgroundColor: colours[4] }]
        },
        options: Object.assign({ scales: countAxis, plugins: { legend: { display: false } } }, common)
      }
    };
    document.querySelectorAll("canvas[data-report-chart]").forEach(function (canvas) {
      var spec = specs[canvas.dataset.reportChart];
      if (spec) {
        new window.Chart(canvas, spec);
        canvas.dataset.drawn = "true";
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

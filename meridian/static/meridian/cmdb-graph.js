// The relationship graph of a configuration item (the CI's Graph tab, cmdb/tabs/graph.html): Cytoscape.js, loaded
// on first use from the vendored file. The first graph comes in the page (a JSON element made by `json_script`);
// double-clicking a CI (or its "Add its neighbours" button) fetches its neighbours from the tab's API, as the
// reader may see them, with the page CI's impact flagged. Many alike CIs hanging off one CI come as a cluster, one
// node until it is double-clicked (or "Show the N CIs"). State for tests: the canvas's data-node-count and
// data-edge-count. The tab may come in by htmx, which runs this file again: it then only starts the new graphs.
(function () {
  "use strict";

  let loading = null;

  // cytoscape puts an inline <style> in the head (its container: position: relative) unless an element of this id is
  // there: the Content-Security-Policy forbids inline styles, and meridian.css gives the canvas that position
  const CYTOSCAPE_STYLE = "__________cytoscape_stylesheet";

  function loadCytoscape(src) {
    if (!document.getElementById(CYTOSCAPE_STYLE)) {
      const marker = document.createElement("meta");
      marker.id = CYTOSCAPE_STYLE;
      document.head.appendChild(marker);
    }
    if (window.cytoscape) {
      return Promise.resolve(window.cytoscape);
    }
    if (!loading) {
      loading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.onload = () => resolve(window.cytoscape);
        script.onerror = () => reject(new Error("cytoscape did not load"));
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  // status -> colour, as the legend's swatches are painted (meridian.css)
  function statusColours(tab) {
    const colours = {};
    tab.querySelectorAll(".cmdb-graph-swatch[data-status]").forEach((swatch) => {
      colours[swatch.dataset.status] = getComputedStyle(swatch).backgroundColor;
    });
    return colours;
  }

  let clusterSeq = 0;

  // the elements of an answer of the graph API, as cytoscape takes them. A cluster (many alike CIs hanging off one
  // CI) becomes one node and one edge; its CIs and their edges are kept in `withheld` under the cluster node's id
  // until it is opened. `present(id)`: whether a CI is in the graph already (it is then not withheld again).
  function elements(data, colours, depthOffset, present, withheld) {
    const clusters = (data.clusters || [])
      .map((cluster) => ({ ...cluster, members: cluster.members.map(String).filter((id) => !present(id)) }))
      .filter((cluster) => cluster.members.length > 1);
    const clusterOf = new Map();
    clusters.forEach((cluster) => cluster.members.forEach((id) => clusterOf.set(id, cluster)));
    const held = new Map(clusters.map((cluster) => [cluster, []]));
    const shown = [];
    data.nodes.forEach((node) => {
      const element = {
        group: "nodes",
        data: {
          ...node,
          id: String(node.id),
          depth: node.depth + depthOffset,
          label: node.group ? `${node.name} (${node.group})` : node.name,
          colour: colours[node.status] || "#adb5bd",
        },
        classes: [node.centre && depthOffset === 0 ? "centre" : "", node.group ? "group" : "", node.impacted ? "impacted" : ""]
          .filter(Boolean)
          .join(" "),
      };
      const cluster = clusterOf.get(element.data.id);
      (cluster ? held.get(cluster) : shown).push(element);
    });
    data.edges.forEach((edge) => {
      const element = {
        group: "edges",
        data: { ...edge, source: String(edge.source), target: String(edge.target) },
        classes: edge.kind === "member of" ? "member" : "",
      };
      const cluster = clusterOf.get(element.data.source) || clusterOf.get(element.data.target);
      (cluster ? held.get(cluster) : shown).push(element);
    });
    clusters.forEach((cluster) => {
      clusterSeq += 1;
      const id = `cluster-${clusterSeq}`;
      const hub = String(cluster.hub);
      const count = cluster.members.length;
      withheld.set(id, held.get(cluster));
      shown.push({
        group: "nodes",
        data: {
          id,
          isCluster: true,
          count,
          name: `${count} × ${cluster.class}`,
          label: `${count} × ${cluster.class}`,
          class: cluster.class,
          impactedCount: cluster.impacted,
          depth: (data.nodes.find((node) => String(node.id) === hub) || { depth: 0 }).depth + depthOffset + 1,
          colour: "#e9ecef",
        },
        classes: ["cluster", cluster.impacted ? "impacted" : ""].filter(Boolean).join(" "),
      });
      shown.push({
        group: "edges",
        data: {
          id: `${id}-edge`,
          source: cluster.direction === "to" ? id : hub,
          target: cluster.direction === "to" ? hub : id,
          label: cluster.label,
        },
        classes: "cluster-edge",
      });
    });
    return shown;
  }

  const STYLE = [
    {
      selector: "node",
      style: {
        "background-color": "data(colour)",
        label: "data(label)",
        "font-size": 10,
        "text-valign": "bottom",
        "text-margin-y": 3,
        "text-wrap": "ellipsis",
        "text-max-width": "140px",
        width: 22,
        height: 22,
        "border-width": 1,
        "border-color": "#495057",
      },
    },
    { selector: "node.centre", style: { width: 34, height: 34, "border-width": 4, "border-color": "#212529", "font-weight": "bold" } },
    { selector: "node.group", style: { shape: "round-rectangle", "border-style": "dashed", "border-width": 2 } },
    {
      selector: "node.cluster",
      style: { shape: "round-rectangle", width: 48, height: 26, "border-width": 2, "border-color": "#6c757d", "font-weight": "bold" },
    },
    { selector: "edge.cluster-edge", style: { width: 3 } },
    { selector: "node.expanded", style: { "border-width": 3 } },
    { selector: "node:selected", style: { "overlay-color": "#0d6efd", "overlay-opacity": 0.25, "overlay-padding": 6 } },
    {
      selector: "edge",
      style: {
        width: 1.5,
        "curve-style": "bezier",
        "target-arrow-shape": "triangle",
        "line-color": "#adb5bd",
        "target-arrow-color": "#adb5bd",
        label: "data(label)",
        "font-size": 8,
        "min-zoomed-font-size": 7, // zoomed out over hundreds of edges, their labels give way until zoomed in
        color: "#495057",
        "text-rotation": "autorotate",
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.85,
        "text-background-padding": 1,
      },
    },
    { selector: "edge.member", style: { "line-style": "dashed" } },
    { selector: "node.show-impact.impacted", style: { "border-width": 5, "border-color": "#dc3545" } },
    { selector: "node.show-impact.centre", style: { "border-color": "#dc3545", "background-color": "#dc3545" } },
    { selector: ".faded", style: { opacity: 0.3 } },
    { selector: "edge.impact-path", style: { "line-color": "#dc3545", "target-arrow-color": "#dc3545", width: 2.5 } },
  ];

  function start(canvas) {
    if (canvas.dataset.graphReady) {
      return;
    }
    canvas.dataset.graphReady = "starting";
    const tab = canvas.closest(".cmdb-graph-tab");
    const source = document.getElementById(canvas.dataset.cmdbGraph);
    const message = tab.querySelector("[data-graph-message]");
    const panel = tab.querySelector("[data-graph-panel]");
    const impactSwitch = tab.querySelector("[data-graph-impact]");
    const data = JSON.parse(source.textContent);
    const hint = message.textContent;
    const centre = data.nodes.find((node) => node.centre);
    loadCytoscape(canvas.dataset.cytoscape).then((cytoscape) => {
      const colours = statusColours(tab);
      const withheld = new Map(); // cluster node id -> the CIs and edges it stands for
      const cy = cytoscape({
        container: canvas,
        elements: elements(data, colours, 0, () => false, withheld),
        style: STYLE,
        minZoom: 0.1,
        maxZoom: 3,
        wheelSensitivity: 0.3,
      });
      let selected = null;

      // the list under the graph names every CI the graph holds, those its expansions add too
      const list = tab.querySelector(".cmdb-graph-list");
      const summary = tab.querySelector("[data-graph-summary]");
      const listed = new Set(data.nodes.map((node) => String(node.id)));
      const relationships = new Set(data.edges.map((edge) => edge.id));

      function listMore(more) {
        more.nodes.forEach((node) => {
          if (listed.has(String(node.id))) {
            return;
          }
          listed.add(String(node.id));
          const item = document.createElement("li");
          const link = document.createElement("a");
          link.href = node.url;
          link.textContent = node.name;
          const about = document.createElement("span");
          about.className = "text-muted";
          about.textContent = [node.reference, node.class, node.status_label, node.group, node.impacted ? "fails when this CI is down" : ""]
            .filter(Boolean)
            .join(" · ");
          item.append(link, " ", about);
          list.appendChild(item);
        });
        more.edges.forEach((edge) => relationships.add(edge.id));
        const cis = listed.size;
        const rels = relationships.size;
        summary.textContent = `The graph as a list (${cis} CI${cis === 1 ? "" : "s"}, ${rels} relationship${rels === 1 ? "" : "s"})`;
      }

      function count() {
        canvas.dataset.nodeCount = String(cy.nodes().length);
        canvas.dataset.edgeCount = String(cy.edges().length);
      }

      // cose (force-directed, built in) copes with hubs of hundreds; an expansion starts from the positions shown,
      // its new nodes around the node expanded, so the graph keeps its shape
      function layout(incremental) {
        cy.layout({
          name: "cose",
          randomize: !incremental,
          animate: false,
          idealEdgeLength: () => 90,
          nodeRepulsion: () => 12000,
          nodeDimensionsIncludeLabels: true,
          fit: false,
        }).run();
        fit();
      }

      function fit() {
        cy.fit(undefined, 24);
        if (cy.zoom() > 1.4) {
          cy.zoom(1.4); // a few nodes are not blown up to the whole canvas
          cy.center();
        }
        canvas.dataset.fittedWidth = String(cy.width());
      }

      function showImpact() {
        const on = impactSwitch.checked;
        cy.elements().removeClass("faded impact-path show-impact");
        if (on) {
          const hit = cy.nodes(".impacted, .centre");
          cy.elements().addClass("show-impact");
          cy.nodes().not(hit).addClass("faded");
          const between = hit.edgesWith(hit);
          cy.edges().not(between).addClass("faded");
          between.addClass("impact-path");
          const impacted = cy.nodes(".impacted").reduce((n, node) => n + (node.data("isCluster") ? node.data("impactedCount") : 1), 0);
          message.textContent = `${impacted} CI${impacted === 1 ? "" : "s"} shown fail when ${centre.name} is down.`;
        } else {
          message.textContent = hint;
        }
      }

      function showPanel(node) {
        selected = node;
        const values = node.data();
        panel.querySelectorAll("[data-graph-field]").forEach((field) => {
          field.textContent = values[field.dataset.graphField] || "";
        });
        const link = panel.querySelector('a[data-graph-field="name"]');
        if (values.url) {
          link.href = values.url;
        } else {
          link.removeAttribute("href"); // a cluster has no page
        }
        panel.querySelectorAll("[data-graph-group]").forEach((el) => {
          el.hidden = !values.group;
        });
        panel.querySelectorAll("[data-graph-ci]").forEach((el) => {
          el.hidden = Boolean(values.isCluster); // a cluster has no reference or status of its own
        });
        const expand = panel.querySelector("[data-graph-expand]");
        expand.disabled = node.hasClass("expanded") || node.hasClass("centre");
        expand.textContent = values.isCluster ? `Show the ${values.count} CIs` : "Add its neighbours";
        panel.hidden = false;
      }

      // a cluster opened: its CIs and their edges take its place, around where it was
      function openCluster(node) {
        const held = withheld.get(node.id());
        if (!held) {
          return;
        }
        withheld.delete(node.id());
        const around = node.position();
        const added = held.filter((el) => cy.getElementById(el.data.id).empty());
        const nodes = added.filter((el) => el.group === "nodes");
        nodes.forEach((el, i) => {
          const angle = (2 * Math.PI * i) / nodes.length;
          el.position = { x: around.x + 70 * Math.cos(angle), y: around.y + 70 * Math.sin(angle) };
        });
        cy.remove(node);
        cy.add(added);
        panel.hidden = true;
        layout(true);
        count();
        showImpact();
        message.textContent = `${nodes.length} CI${nodes.length === 1 ? "" : "s"} of ${node.data("class")} shown.`;
      }

      function open(node) {
        if (node.data("isCluster")) {
          openCluster(node);
        } else {
          expand(node);
        }
      }

      function expand(node) {
        if (node.hasClass("expanded") || node.hasClass("centre")) {
          return;
        }
        node.addClass("expanded");
        const address = `${node.data("api")}?depth=1&impact_of=${encodeURIComponent(centre.id)}`;
        message.textContent = `Adding the neighbours of ${node.data("name")}…`;
        fetch(address, { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then((response) => (response.ok ? response.json() : Promise.reject(response)))
          .then((more) => {
            const present = (id) => !cy.getElementById(id).empty();
            const added = elements(more, colours, node.data("depth"), present, withheld).filter((el) => !present(el.data.id));
            const around = node.position();
            added.forEach((el, i) => {
              if (el.group === "nodes") {
                const angle = (2 * Math.PI * i) / added.length;
                el.position = { x: around.x + 60 * Math.cos(angle), y: around.y + 60 * Math.sin(angle) };
              }
            });
            cy.add(added);
            listMore(more);
            const nodes = added.filter((el) => el.group === "nodes").length;
            let text = nodes ? `${nodes} CI${nodes === 1 ? "" : "s"} added around ${node.data("name")}.` : `${node.data("name")} has no other neighbours you may see.`;
            if (more.truncated) {
              text += " Only its nearest neighbours were added: it has more.";
            }
            layout(true);
            count();
            showImpact();
            message.textContent = text;
            if (selected === node) {
              showPanel(node);
            }
          })
          .catch(() => {
            node.removeClass("expanded");
            message.textContent = `The neighbours of ${node.data("name")} could not be loaded.`;
          });
      }

      // a narrower window (a phone turned): the graph is fitted again, not cut off
      let width = canvas.clientWidth;
      new ResizeObserver(() => {
        if (canvas.clientWidth !== width) {
          width = canvas.clientWidth;
          cy.resize();
          fit();
        }
      }).observe(canvas);
      cy.on("tap", "node", (event) => showPanel(event.target));
      cy.on("dbltap", "node", (event) => open(event.target));
      panel.querySelector("[data-graph-expand]").addEventListener("click", () => selected && open(selected));
      tab.querySelector("[data-graph-fit]").addEventListener("click", fit);
      impactSwitch.addEventListener("change", showImpact);
      layout(false);
      count();
      showImpact();
      canvas.dataset.graphReady = "ready";
      window.meridianCmdbGraph = cy;
    });
  }

  function startAll(root) {
    root.querySelectorAll("[data-cmdb-graph]").forEach(start);
  }

  if (!window.meridianCmdbGraphLoaded) {
    window.meridianCmdbGraphLoaded = true;
    document.addEventListener("htmx:load", (event) => startAll(event.target));
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => startAll(document));
  } else {
    startAll(document);
  }
})();

/* The grid editor's Leaflet.draw texts, Chinese first (the planners read Chinese; Leaflet.draw
   ships English only). Loaded right after leaflet.draw.js and before the page makes its draw
   control, which reads them (buttons when the toolbar is made, tooltips when a tool starts). */
(function () {
  "use strict";
  L.drawLocal = {
    format: {numeric: {delimiters: {thousands: ",", decimal: "."}}},
    draw: {
      toolbar: {
        actions: {title: "取消绘制 cancel drawing", text: "取消 Cancel"},
        finish: {title: "完成绘制 finish drawing", text: "完成 Finish"},
        undo: {title: "删除最后一个点 delete the last point drawn", text: "删除上一点 Delete last point"},
        buttons: {
          polyline: "画折线 draw a line",
          polygon: "画边界：框内的楼栋归入所选网格 draw a boundary: the buildings inside go to the selected grid",
          rectangle: "画矩形 draw a rectangle",
          circle: "画圆 draw a circle",
          marker: "放置标记 place a marker",
          circlemarker: "放置圆点 place a circle marker"
        }
      },
      handlers: {
        circle: {tooltip: {start: "按住并拖动画圆 click and drag to draw a circle."}, radius: "半径 radius"},
        circlemarker: {tooltip: {start: "点击地图放置圆点 click the map to place a circle marker."}},
        marker: {tooltip: {start: "点击地图放置标记 click the map to place a marker."}},
        polygon: {tooltip: {
          start: "点击开始画边界 click to start drawing the boundary.",
          cont: "点击继续画 click to continue drawing.",
          end: "点击第一个点闭合边界 click the first point to close the boundary."
        }},
        polyline: {
          error: "<strong>错误 error:</strong> 边不能相交 the edges cannot cross!",
          tooltip: {
            start: "点击开始画线 click to start drawing a line.",
            cont: "点击继续画 click to continue drawing.",
            end: "点击最后一个点结束 click the last point to finish."
          }
        },
        rectangle: {tooltip: {start: "按住并拖动画矩形 click and drag to draw a rectangle."}},
        simpleshape: {tooltip: {end: "松开鼠标完成 release the mouse to finish."}}
      }
    },
    // The edit toolbar (reshape, delete) is not offered: a drawn boundary is a one-shot
    // action (maps/editor.py). Leaflet.draw still reads these texts when it makes its control.
    edit: {
      toolbar: {
        actions: {
          save: {title: "完成修改边界（框内楼栋随之归入所选网格） keep the reshaped boundaries", text: "完成 Done"},
          cancel: {title: "取消修改，恢复原边界 cancel editing, discard the changes", text: "取消 Cancel"},
          clearAll: {title: "清除所有画出的边界 clear every drawn boundary", text: "全部清除 Clear all"}
        },
        buttons: {
          edit: "修改画出的边界 reshape drawn boundaries",
          editDisabled: "没有可修改的边界 no boundary to reshape",
          remove: "删除画出的边界 delete drawn boundaries",
          removeDisabled: "没有可删除的边界 no boundary to delete"
        }
      },
      handlers: {
        edit: {tooltip: {
          text: "拖动顶点修改边界 drag the handles to reshape the boundary.",
          subtext: "点击“取消”撤销修改 click cancel to undo the changes."
        }},
        remove: {tooltip: {text: "点击画出的边界将其删除 click a drawn boundary to delete it."}}
      }
    }
  };
})();

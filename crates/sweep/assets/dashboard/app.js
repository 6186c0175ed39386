placeholder assets/echarts.min.js assets/app.js assets/style.css

from orders.main import app

app.main()

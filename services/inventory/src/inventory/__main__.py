from inventory.main import app

app.main()
